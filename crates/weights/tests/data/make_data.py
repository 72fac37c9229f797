#!/usr/bin/env python3
"""Make the tiny test inputs in this folder. Standard library only (no torch).

Valid checkpoints are written through pickle with stand-in modules registered under
torch's and Ultralytics' names, so the pickle bytes are what torch.save would write
for the same structure (NEWOBJ + BUILD for modules, _rebuild_tensor_v2 /
_rebuild_parameter for tensors, persistent ids for storages).
Hostile inputs are hand-assembled pickles. Run: python3 make_data.py
"""
import collections, io, json, pickle, struct, sys, types, zipfile, os

HERE = os.path.dirname(os.path.abspath(__file__))


def fake_module(name, **attrs):
    parts = name.split(".")
    for i in range(1, len(parts)):  # parents too, so no real package is imported
        parent = ".".join(parts[:i])
        if not isinstance(sys.modules.get(parent), types.ModuleType) or not getattr(sys.modules[parent], "_stand_in", False):
            pm = types.ModuleType(parent)
            pm._stand_in = True
            pm.__path__ = []
            sys.modules[parent] = pm
    m = sys.modules.get(name)
    if m is None or not getattr(m, "_stand_in", False):
        m = types.ModuleType(name)
        m._stand_in = True
    for k, v in attrs.items():
        v.__module__ = name
        v.__qualname__ = k
        v.__name__ = k
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def _rebuild_tensor_v2(*a):
    raise RuntimeError("stand-in")


def _rebuild_parameter(*a):
    raise RuntimeError("stand-in")


class HalfStorage: pass
class FloatStorage: pass
class BFloat16Storage: pass
class LongStorage: pass


fake_module("torch", HalfStorage=HalfStorage, FloatStorage=FloatStorage,
            BFloat16Storage=BFloat16Storage, LongStorage=LongStorage)
fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2, _rebuild_parameter=_rebuild_parameter)

STORAGE_FMT = {HalfStorage: ("e", 2), FloatStorage: ("f", 4), LongStorage: ("q", 8), BFloat16Storage: (None, 2)}
DTYPE_NAME = {HalfStorage: "float16", FloatStorage: "float32", LongStorage: "int64", BFloat16Storage: "bfloat16"}


def pack(cls, values):
    fmt, _ = STORAGE_FMT[cls]
    if cls is BFloat16Storage:
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def unpack(cls, raw):
    if cls is BFloat16Storage:
        return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    fmt, size = STORAGE_FMT[cls]
    return list(struct.unpack("<%d%s" % (len(raw) // size, fmt), raw))


class Storage:
    def __init__(self, cls, key, values):
        self.cls, self.key, self.values = cls, key, values
        self.raw = pack(cls, values)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))

    def values(self):
        vals = unpack(self.storage.cls, self.storage.raw)
        out = []
        def rec(d, off):
            if d == len(self.size):
                out.append(vals[off]); return
            for i in range(self.size[d]):
                rec(d + 1, off + i * self.stride[d])
        if all(self.size):
            rec(0, self.offset)
        return out


class Parameter:
    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        return (_rebuild_parameter, (self.t, True, collections.OrderedDict()))


def contiguous_stride(size):
    s, acc = [], 1
    for n in reversed(size):
        s.append(acc); acc *= n
    return tuple(reversed(s))


def module_class(mod, name):
    cls = type(name, (), {})
    m = sys.modules.get(mod)
    if m is None or not getattr(m, "_stand_in", False):
        m = fake_module(mod)
    cls.__module__ = mod
    setattr(m, name, cls)
    return cls


Conv2d = module_class("torch.nn.modules.conv", "Conv2d")
BatchNorm2d = module_class("torch.nn.modules.batchnorm", "BatchNorm2d")
Sequential = module_class("torch.nn.modules.container", "Sequential")
SiLU = module_class("torch.nn.modules.activation", "SiLU")
Conv = module_class("ultralytics.nn.modules.conv", "Conv")
Detect = module_class("ultralytics.nn.modules.head", "Detect")
DetectionModel = module_class("ultralytics.nn.tasks", "DetectionModel")


def module(cls, params=(), buffers=(), children=(), non_persistent=(), **attrs):
    m = cls()
    m.__dict__.update(dict(training=False, _parameters=collections.OrderedDict(params),
                           _buffers=collections.OrderedDict(buffers), _non_persistent_buffers_set=set(non_persistent),
                           _modules=collections.OrderedDict(children)), **attrs)
    return m


def tiny_model():
    """A 2-layer model exercising f16/f32/bf16/int64, shared storages, offsets and non-contiguous views."""
    s_w = Storage(HalfStorage, "0", [0.5 * i - 3 for i in range(12)])      # conv weight [4,3,1,1]
    s_bn = Storage(FloatStorage, "1", [1.0, 2.0, 3.0, 4.0, 0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 9.0])
    s_nb = Storage(LongStorage, "2", [7])
    s_t = Storage(BFloat16Storage, "3", [1.5, -2.0, 0.25, 8.0, -0.5, 3.0])  # viewed transposed [3,2] of [2,3]
    s_h = Storage(HalfStorage, "4", [float(i) for i in range(24)])         # head weight: strided slice
    s_stride = Storage(FloatStorage, "5", [8.0, 16.0, 32.0])
    s_anchor = Storage(HalfStorage, "6", [])
    storages = [s_w, s_bn, s_nb, s_t, s_h, s_stride, s_anchor]

    conv_w = Parameter(Tensor(s_w, 0, (4, 3, 1, 1), contiguous_stride((4, 3, 1, 1))))
    # BatchNorm params/buffers: four views into one storage at offsets 0, 4, 8, 12
    bn = module(BatchNorm2d,
                params=[("weight", Parameter(Tensor(s_bn, 0, (4,), (1,)))), ("bias", Parameter(Tensor(s_bn, 4, (4,), (1,))))],
                buffers=[("running_mean", Tensor(s_bn, 8, (4,), (1,))), ("running_var", Tensor(s_bn, 12, (4,), (1,))),
                         ("num_batches_tracked", Tensor(s_nb, 0, (), ()))],
                eps=0.001, momentum=0.03)
    conv = module(Conv2d, params=[("weight", conv_w), ("bias", None)], in_channels=3, out_channels=4)
    layer0 = module(Conv, children=[("conv", conv), ("bn", bn), ("act", module(SiLU))], i=0, f=-1, type="Conv", np=12)
    head = module(Detect,
                  params=[("proj", Parameter(Tensor(s_t, 0, (3, 2), (1, 3))))],   # transposed view
                  buffers=[("w", Tensor(s_h, 1, (2, 3, 2), (12, 4, 1))),            # offset + gaps
                           ("scratch", Tensor(s_h, 0, (2,), (1,)))],               # non-persistent
                  non_persistent=["scratch"],
                  children=[("none_child", None)],
                  stride=Tensor(s_stride, 0, (3,), (1,)), anchors=Tensor(s_anchor, 0, (0,), (1,)),
                  i=1, f=[0], type="Detect", np=30, nc=2)
    seq = module(Sequential, children=[("0", layer0), ("1", head)])
    yaml = {"nc": 2, "scale": "n", "scales": {"n": [0.5, 0.25, 1024]}, "backbone": [[-1, 1, "Conv", [4, 1, 1]]],
            "head": [[[0], 1, "Detect", ["nc"]]], "channels": 3, "kpt_shape": None, "yaml_file": "tiny.yaml"}
    model = module(DetectionModel, children=[("model", seq)], yaml=yaml, names={0: "cat", 1: "dog"},
                   stride=Tensor(s_stride, 0, (3,), (1,)), args={"imgsz": 64, "task": "detect", "half": False},
                   task="detect", inplace=True, save=[0])
    ckpt = {"date": "2026-01-01T00:00:00", "version": "8.4.0", "license": "AGPL-3.0", "ema": None,
            "model": model, "optimizer": None, "epoch": -1, "train_args": {"imgsz": 64, "batch": (1, 2)}}
    expected = []
    for name, t in [("model.0.conv.weight", conv_w.t), ("model.0.bn.weight", bn._parameters["weight"].t),
                    ("model.0.bn.bias", bn._parameters["bias"].t), ("model.0.bn.running_mean", bn._buffers["running_mean"]),
                    ("model.0.bn.running_var", bn._buffers["running_var"]),
                    ("model.0.bn.num_batches_tracked", bn._buffers["num_batches_tracked"]),
                    ("model.1.proj", head._parameters["proj"].t), ("model.1.w", head._buffers["w"])]:
        expected.append({"name": name, "dtype": DTYPE_NAME[t.storage.cls], "shape": list(t.size), "values": t.values()})
    return ckpt, storages, expected


def swapped(s):
    size = STORAGE_FMT[s.cls][1]
    return b"".join(s.raw[i:i + size][::-1] for i in range(0, len(s.raw), size))


def write_pt(path, pkl, storages, root="archive", extra=(), byteorder="little"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{root}/data.pkl", pkl)
        z.writestr(f"{root}/.format_version", "1")
        z.writestr(f"{root}/byteorder", byteorder)
        for s in storages:
            z.writestr(f"{root}/data/{s.key}", s.raw if byteorder == "little" else swapped(s))
        for name, data in extra:
            z.writestr(f"{root}/{name}", data)
        z.writestr(f"{root}/version", "3\n")


def dump(obj, protocol):
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=protocol)
    p.persistent_id = lambda o: ("storage", o.cls, o.key, "cpu", len(o.values)) if isinstance(o, Storage) else None
    p.dump(obj)
    return buf.getvalue()


def main():
    ckpt, storages, expected = tiny_model()
    for proto in (2, 4, 5):
        write_pt(os.path.join(HERE, f"tiny_p{proto}.pt"), dump(ckpt, proto), storages, root=f"tiny_p{proto}")
    # The same checkpoint as a big-endian machine writes it (byteorder "big").
    write_pt(os.path.join(HERE, "tiny_be.pt"), dump(ckpt, 2), storages, root="tiny_be", byteorder="big")
    with open(os.path.join(HERE, "tiny.expected.json"), "w") as f:
        json.dump({"tensors": expected, "names": {"0": "cat", "1": "dog"}, "stride": [8.0, 16.0, 32.0],
                   "task": "detect", "yaml": ckpt["model"].yaml}, f, indent=1)

    # Hostile: globals that must be refused before anything happens.
    write_pt(os.path.join(HERE, "evil_os_system.pt"),
             b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00touch /tmp/onnxide-pwnedq\x01\x85q\x02Rq\x03.", [])
    write_pt(os.path.join(HERE, "evil_builtins_eval.pt"),
             b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
             b"\x8c\x1a__import__('os').getpid()\x94\x85\x94R\x94.", [])
    write_pt(os.path.join(HERE, "evil_unknown_global.pt"),
             b"\x80\x02cmypkg.evil\nThing\nq\x00)\x81q\x01.", [])
    # Hostile: a storage declaring 1000 float16 elements with an 8-byte entry.
    small = Storage(HalfStorage, "0", [1.0, 2.0, 3.0, 4.0])
    big = dump({"w": Tensor(Storage(HalfStorage, "0", [0.0] * 1000), 0, (1000,), (1,))}, 2)
    write_pt(os.path.join(HERE, "storage_too_large.pt"), big, [small])
    # Hostile: a view reaching past its storage.
    write_pt(os.path.join(HERE, "view_out_of_range.pt"), dump({"w": Tensor(small, 2, (2, 2), (2, 1))}, 2), [small])
    # Legacy (non-zip) torch file: pickled magic number first.
    with open(os.path.join(HERE, "legacy.pt"), "wb") as f:
        f.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")


if __name__ == "__main__":
    main()
