"""Offline work: reading the corpora, building token shards and captions, training the models, building the
harmony table and evaluating. The composing code (composer/, symbolic/, audio/, tui/) never imports this at run
time; `composer train | data | eval` load it when they are asked to."""
