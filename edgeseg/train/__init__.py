"""Training: configuration, losses, schedules, checkpoints and the training loop."""
