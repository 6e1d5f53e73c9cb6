"""Run a TFLite file on ai-edge-litert: the one inference loop that serving,
training's evaluation and the benchmarks share."""
import numpy as np
from ai_edge_litert.interpreter import Interpreter


class TFLiteModel:
    """A TFLite model with one float32 input, run on batches of any size (the
    interpreter is resized when the batch size changes).
    An interpreter is not thread-safe: use one TFLiteModel per thread."""

    def __init__(self, model_path, threads=1):
        self.interpreter = Interpreter(model_path=model_path, num_threads=threads)
        self.interpreter.allocate_tensors()
        input_details = self.interpreter.get_input_details()[0]
        self.input_index = input_details["index"]
        self.input_shape = tuple(input_details["shape"][1:])
        self.output_details = self.interpreter.get_output_details()
        self.batch_size = int(input_details["shape"][0])

    def run(self, batch):
        """Every output (copies, in the order of `output_details`) for a batch
        (N, *input_shape) of float32 inputs."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) != self.batch_size:
            self.interpreter.resize_tensor_input(self.input_index, batch.shape)
            self.interpreter.allocate_tensors()
            self.batch_size = len(batch)
        self.interpreter.set_tensor(self.input_index, batch)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(output["index"]) for output in self.output_details]

    def predict(self, batch):
        """The first output for a batch of inputs."""
        return self.run(batch)[0]

    def predict_many(self, inputs, batch_size=256):
        """Outputs for any number of inputs, in batches of at most batch_size."""
        return np.concatenate([self.predict(inputs[start:start + batch_size])
                               for start in range(0, len(inputs), batch_size)])
