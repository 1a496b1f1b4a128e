"""Training: the loop and the pieces it calls (steps, losses, loss scaling, summaries)."""
