"""Video style transfer with temporal consistency (Ruder, Dosovitskiy and Brox 2016).

    python -m stylekit video clip.mp4 --style images/style/starry_night.jpg --out out.mp4
    python -m stylekit video-demo images/video/chenonceau_pan.mp4        # the bundled demo clip
    python -m stylekit video-sheet still.png input.mp4 out_a.mp4 out_b.mp4  # frames side by side

Every frame goes through the same engine as a still image (`engine.stylize`). Frame 1 gets
`steps` evaluations from the content image; each later frame gets `later_steps` and starts
from the previous output. Frame by frame (`temporal_weight=0`) it starts from the previous
output as it is; in temporal mode from the previous output warped to this frame by the
optical flow, and a `TemporalLoss` pulls it towards that warped frame wherever the flow is
reliable (a forward-backward consistency check drops disocclusions and motion boundaries).

Flicker is measured as the temporal warping error: the mean absolute difference between
output t and output t-1 warped to t, over the reliable pixels (RGB in [0, 1]).

    io.py        reading and writing clips (imageio: FFmpeg for mp4/avi/..., Pillow for GIF),
                 strips of frames, the demo clip
    flow.py      optical flow (OpenCV's DIS), warping, the reliability mask, the warping error
    stylize.py   a clip through the engine, frame after frame, and the figures of the result
"""
