"""The performance model offline: data from Groove MIDI and POP909, training, evaluation against held-out humans."""
