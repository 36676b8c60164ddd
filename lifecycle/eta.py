"""Time left, as the progress bars and the Temporal UI's details say it."""


def format_eta(seconds: float) -> str:
    """How long `seconds` is, roughly: about 7 s, about 3 min 20 s, about 1 h 05 min."""
    whole = round(seconds)
    if whole < 60:
        return f"about {whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"about {minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min"
