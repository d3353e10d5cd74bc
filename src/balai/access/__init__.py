"""The trust model: who acts, what they may do, and what they may see."""
