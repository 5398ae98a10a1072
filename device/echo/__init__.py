"""Live echo acquisition, pure parts (no clock, no I/O): find the fan on the machine's screen and its pixel size
(`screen`), model input and output (`prep`, `classify`), quality smoothing (`quality`), probe hints (`guidance`), the
standard-view gate and its events (`gate`), the exam protocol (`protocol`), best-loop selection (`bestclip`) and
signal checks (`signal`). The live loop that runs them on every frame is `device.pipeline.live_echo`."""
