#!/usr/bin/env python3
"""Make torch_views.pt / torch_views.json with real torch.save (needs torch; the output is
committed, so the tests do not). Non-contiguous views (transpose, strided slices, permute),
bfloat16, int64 and a storage shared by two tensors. Run: python3 make_torch_data.py"""
import json, os, torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
sd = {
    "transposed": base.t(),
    "bf16_strided": torch.randn(4, 5).to(torch.bfloat16)[1:, ::2],
    "int64_step": torch.arange(10, dtype=torch.int64)[2:8:3],
    "permuted": torch.randn(2, 3, 4).permute(2, 0, 1),
    "shares_storage": base[1],
    "scalar_f16": torch.tensor(1.5, dtype=torch.float16),
    "empty": torch.zeros(0, 3),
}
torch.save(sd, os.path.join(HERE, "torch_views.pt"))
with open(os.path.join(HERE, "torch_views.json"), "w") as f:
    json.dump([{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                "values": v.float().flatten().tolist()} for k, v in sd.items()], f)
