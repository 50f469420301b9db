"""Style families: the idiom a plan's free-text style belongs to (jazz, bossa, funk, ...)."""
from __future__ import annotations


def style_family(style: str) -> str:
    s = style.lower()
    for fam, words in (
        ("jazz", ("jazz", "swing", "bebop", "big band")), ("bossa", ("bossa", "latin", "samba", "tango")),
        ("funk", ("funk", "disco")), ("reggae", ("reggae", "ska")), ("edm", ("edm", "electronic", "house", "techno", "dance")),
        ("hiphop", ("hip hop", "hip-hop", "hiphop", "trap", "lofi", "lo-fi")), ("blues", ("blues",)),
        ("march", ("march",)), ("waltz", ("waltz",)), ("rock", ("rock", "metal", "punk", "grunge")),
        ("folk", ("folk", "celtic", "country", "bluegrass", "irish", "jig", "reel")),
        ("ballad", ("ballad", "lullaby", "ambient", "calm", "peaceful")),
        ("classical", ("classical", "baroque", "romantic", "chamber", "quartet", "orchestral", "cinematic", "film")),
    ):
        if any(w in s for w in words):
            return fam
    return "pop"
