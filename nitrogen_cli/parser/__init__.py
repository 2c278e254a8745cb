"""The action parser behind `nitrogen extract-actions`: read the gamepad off an overlay.

    geometry  the overlay's rectangle of a frame, warped onto the template's own grid
    looks     what each element looks like released and pressed (sticks: at every cell)
    calib     per-video facts: opacity and background, a sub-pixel placement correction,
              whether a frame shows the overlay; stick centre and scale; button boundaries
    pipeline  calibration and cropping, shared by training and extraction
    model     the small network, told the layout (ParserConfig, ParserNet, load, save)
    synth     synthetic training clips, really encoded and read back
    train     the training loop (tools/train-parser)
    extract   the streaming extraction: extract(overlay_h5, actions_h5)
    oracle    an overlay file from corpus truth (extraction measured apart from detection)

The shipped checkpoint lives in weights/ (safetensors and a JSON config).
"""
