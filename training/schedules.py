"""Learning-rate schedules: a warm-up then a cosine decay, over a number of
steps or fitted into a time budget (`--minutes`)."""
import time

import keras
from keras import ops


def warmup_cosine(peak, total_steps, warmup_steps):
    """The learning-rate schedule of a run: a linear warm-up from peak/10 over
    `warmup_steps`, then a cosine decay to peak/100 at `total_steps`."""
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10,
        decay_steps=total_steps - warmup_steps,
        warmup_target=peak,
        warmup_steps=warmup_steps,
        alpha=0.01,
    )

class TimeBudget(keras.callbacks.Callback):
    """Runs the warm-up and cosine schedule over `seconds` of training rather
    than a number of epochs: at each epoch the epochs that fit are estimated at
    the pace of the last one, and training stops once the next epoch would not
    fit (after the first, which includes compiling, only once the time is up).
    A resumed run gets a new budget."""

    def __init__(self, seconds, peak, clock=time.monotonic):
        super().__init__()
        self.seconds, self.clock = seconds, clock
        # The schedule over progress in thousandths, its first tenth the warm-up.
        self.schedule = warmup_cosine(peak, total_steps=1000, warmup_steps=100)
        self.started = self.epoch_started = self.pace = None

    def on_train_begin(self, logs=None):
        self.started = self.clock()

    def expected_epochs(self, epoch):
        """Epochs of the whole run, this one included, at the latest pace."""
        if self.pace is None:
            return None
        left = self.seconds - (self.clock() - self.started)
        return epoch + max(1, int(left // self.pace))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = self.clock()
        total = self.expected_epochs(epoch)
        progress = 0.0 if total is None else epoch / total
        rate = self.schedule(round(progress * 1000))
        self.model.optimizer.learning_rate = float(ops.convert_to_numpy(rate))

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        first = self.pace is None  # its time includes compiling: not the pace
        self.pace = now - self.epoch_started
        if now - self.started + (0 if first else self.pace) > self.seconds:
            self.model.stop_training = True
