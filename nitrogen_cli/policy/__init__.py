"""The NitroGen policy: model, training, checkpoints, inference and the official-weights import.

Modules, one concern each:
  model.py       the network (config dataclass, ViT, mixer, DiT) and the flow-matching helpers
  augment.py     the paper's training augmentations (colour jitter, small rotations, crops)
  checkpoint.py  the checkpoint directory: config.json, safetensors weights, training state
  train.py       behaviour cloning: AdamW, warmup-stable-decay, EMA, DDP, resume
  infer.py       `Policy`: frames in, action chunks out (what eval and play call)
  import_ng.py   the released `ng.pt` <-> our checkpoint layout
"""

# The model sizes (model.PRESETS), named here so that the CLI can list them without torch.
PRESET_NAMES = ("tiny", "small", "nitrogen-500m")
