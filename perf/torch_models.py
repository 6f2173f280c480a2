"""PyTorch 2.1 mirrors of the four models that `bench perf` times (bench/perf/models.go).

Every module below reproduces the Go code op for op, in the same order, with the same layer sizes and
the same initialisation scheme; parameters are also *created in the same order* as the Go harness
creates them (encoder of modality 0, encoder of modality 1, then the method's own layers, each in the
order of the Go constructor), with the same draws from libtorch's global generator. Since both sides
run the same libtorch (the PyPI torch==2.1.0 wheel), the same seed gives bit-identical initial weights
and inputs, which the runner reports (initial evaluation loss, first training losses) so that the Go
command can check that both sides compute the same thing.

Go sources mirrored:
  bench/layers/layers.go         Linear (fused linear; W, b ~ U(±1/sqrt(in))), MLP, CrossEntropy
  bench/encoders/mlp.go          MLPEncoder: layers x (Linear -> ReLU), ReLU after the last one too
  bench/encoders/lenet.go        LeNet: conv5x5 pad 2 (6, 16), ReLU, maxpool 2, adaptive avg pool 4x4,
                                 Linear(16*4*4 -> 128), ReLU; PyTorch default conv/linear init
  bench/encoders/resnet.go, nn.go ResNet18: torchvision BasicBlock [2,2,2,2], no FC; convs
                                 Kaiming-normal fan_out (randn * sqrt(2/fan_out)), BN weight 1 bias 0,
                                 momentum 0.1, eps 1e-5; out-of-place ReLU/add (as the Go code); clips
                                 (B,C,T,H,W) folded into frames, pooled over positions then frames
  methods/joint.go               Joint: concat -> linear head, CE; also the per-modality split logits
                                 (W_m z_m + b/M), which the Go method computes in every forward
  methods/dmi.go                 DMI (variational, both levels): every layer and loss term of the three
                                 stages, the stage schedule and stage 2's frozen variables (the step
                                 benchmark times stage 3; the cell benchmark runs all three)

Deliberate differences (documented in the report): DMI's training noise is drawn with torch.randn
here; the Go method draws it in Go (math/rand/v2 PCG, per-cell, for determinism under concurrency)
and copies it into a tensor. (set_noise replaces torch.randn by the Go cell's exported noise stream,
for the cell benchmark's check run.) BatchNorm is called through F.batch_norm without the num_batches_tracked
counter, as gotch's BatchNorm has none.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------------
# Initialisers (each draws exactly what the Go initialiser draws, from the global generator).


def _uniform(shape, bound):
    # gotch nn.NewUniformInit: ts.MustZeros(dims).Uniform_(lo, up)
    return nn.Parameter(torch.zeros(shape).uniform_(-bound, bound))


def _kaiming_normal_fan_out(shape):
    # bench/encoders/nn.go kaimingNormalFanOut: randn(dims) * sqrt(2 / (out*kh*kw))
    fan_out = shape[0]
    for d in shape[2:]:
        fan_out *= d
    return nn.Parameter(torch.randn(shape) * math.sqrt(2.0 / fan_out))


# --------------------------------------------------------------------------------------------------
# Layers.


class Linear(nn.Module):
    """bench/layers.Linear: y = x W^T + b through the fused linear op; W then b ~ U(±1/sqrt(in))."""

    def __init__(self, inp, out):
        super().__init__()
        bound = 1 / math.sqrt(inp)
        self.weight = _uniform((out, inp), bound)
        self.bias = _uniform((out,), bound)
        self.inp, self.out = inp, out

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class MLP(nn.Module):
    """bench/layers.MLP: Linear layers with ReLU between them (none after the last)."""

    def __init__(self, inp, *dims):
        super().__init__()
        layers = []
        for d in dims:
            layers.append(Linear(inp, d))
            inp = d
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < n - 1:
                x = F.relu(x)
        return x


class Conv2d(nn.Module):
    """bench/encoders/nn.go conv2d: square kernel, stride, padding; bias optional."""

    def __init__(self, inp, out, kernel, stride, padding, init, bias):
        super().__init__()
        shape = (out, inp, kernel, kernel)
        if init == "torch-default":  # torchDefaultUniform(in*k*k), weight then bias
            bound = 1 / math.sqrt(inp * kernel * kernel)
            self.weight = _uniform(shape, bound)
        else:  # "kaiming-normal-fan-out"
            self.weight = _kaiming_normal_fan_out(shape)
        self.bias = None
        if bias:
            self.bias = _uniform((out,), 1 / math.sqrt(inp * kernel * kernel))
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class BatchNorm2d(nn.Module):
    """gotch nn.BatchNorm2D as configured in bench/encoders/nn.go: weight 1, bias 0, momentum 0.1,
    eps 1e-5; batch statistics (and running-statistics update) in training, running ones otherwise."""

    def __init__(self, c):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x, train):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, train, 0.1, 1e-5)


# --------------------------------------------------------------------------------------------------
# Encoders.


class MLPEncoder(nn.Module):
    """bench/encoders/mlp.go: depth x (Linear -> ReLU) over the flattened input."""

    def __init__(self, inp, hidden=128, depth=2):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers.append(Linear(inp, hidden))
            inp = hidden
        self.layers = nn.ModuleList(layers)
        self.out_dim = hidden

    def forward(self, x, train):
        if x.dim() != 2:
            x = torch.flatten(x, 1)
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class LeNet(nn.Module):
    """bench/encoders/lenet.go: conv(C->6, 5x5, pad 2) -> ReLU -> maxpool 2 -> conv(6->16) -> ReLU ->
    maxpool 2 -> adaptive avg pool grid x grid -> flatten -> Linear(16*grid^2 -> feature) -> ReLU."""

    def __init__(self, in_ch, feature=128, grid=4):
        super().__init__()
        convs = []
        inp = in_ch
        for out in (6, 16):
            convs.append(Conv2d(inp, out, 5, 1, 2, "torch-default", True))
            inp = out
        self.convs = nn.ModuleList(convs)
        self.fc = Linear(16 * grid * grid, feature)
        self.grid = grid
        self.out_dim = feature

    def forward(self, x, train):
        for c in self.convs:
            x = F.relu(c(x))
            x = F.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False)
        h = F.adaptive_avg_pool2d(x, [self.grid, self.grid])
        h = torch.flatten(h, 1)
        return F.relu(self.fc(h))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock as written in bench/encoders/resnet.go (out-of-place ReLU and add)."""

    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = Conv2d(inp, out, 3, stride, 1, "kaiming-normal-fan-out", False)
        self.bn1 = BatchNorm2d(out)
        self.conv2 = Conv2d(out, out, 3, 1, 1, "kaiming-normal-fan-out", False)
        self.bn2 = BatchNorm2d(out)
        self.down_conv = self.down_bn = None
        if stride != 1 or inp != out:
            self.down_conv = Conv2d(inp, out, 1, stride, 0, "kaiming-normal-fan-out", False)
            self.down_bn = BatchNorm2d(out)

    def forward(self, x, train):
        h = self.bn1(self.conv1(x), train)
        h = F.relu(h)
        h = self.bn2(self.conv2(h), train)
        short = x
        if self.down_conv is not None:
            short = self.down_bn(self.down_conv(x), train)
        return F.relu(h + short)


class ResNet18(nn.Module):
    """bench/encoders/resnet.go: torchvision ResNet-18 without FC; images (B,C,H,W) or clips
    (B,C,T,H,W) folded into (B*T,C,H,W), feature = mean over positions then frames."""

    def __init__(self, in_ch, width=64):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = Conv2d(in_ch, width, 7, 2, 3, "kaiming-normal-fan-out", False)
        self.bn1 = BatchNorm2d(width)
        layers = []
        inp = width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.ModuleList([BasicBlock(inp, w, stride), BasicBlock(w, w, 1)]))
            inp = w
        self.layers = nn.ModuleList(layers)
        self.out_dim = widths[3]

    def _run(self, x, train):
        h = self.bn1(self.conv1(x), train)
        h = F.relu(h)
        x = F.max_pool2d(h, [3, 3], [2, 2], [1, 1], [1, 1], False)
        for layer in self.layers:
            for block in layer:
                x = block(x, train)
        return x

    def forward(self, x, train):
        if x.dim() != 5:
            return self._run(x, train).mean([2, 3], dtype=torch.float32)
        b, c, t, hh, ww = x.shape
        y = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, hh, ww)  # foldClip
        y = self._run(y, train).mean([2, 3], dtype=torch.float32)  # (B*T, C)
        return y.view(b, t, -1).mean([1], dtype=torch.float32)


def make_encoder(kind, shape):
    if kind == "mlp":
        n = 1
        for d in shape:
            n *= d
        return MLPEncoder(n)
    if kind == "lenet":
        return LeNet(shape[0])
    if kind == "resnet18":
        return ResNet18(shape[0])
    raise ValueError(kind)


# --------------------------------------------------------------------------------------------------
# Methods.


class Joint(nn.Module):
    """methods/joint.go with fusion=linear: head([z1; z2]), CE; plus the unimodal split logits."""

    def __init__(self, encoders, num_classes):
        super().__init__()
        self.enc = nn.ModuleList(encoders)  # already built (their parameters were drawn first)
        self.dims = [e.out_dim for e in encoders]
        self.head = Linear(sum(self.dims), num_classes)

    def outputs(self, xs, y, train):
        """(loss, fused logits, per-modality logits, readouts), as bench.Method.Forward returns them."""
        z = [e(x, train) for e, x in zip(self.enc, xs)]
        cat = torch.cat(z, 1)
        fused = self.head(cat)
        # splitLinearLogits: l^m = W_m z^m + b/M
        bias = self.head.bias / float(len(z))
        per_mod = []
        off = 0
        for m, zm in enumerate(z):
            w = self.head.weight.narrow(1, off, self.dims[m])
            per_mod.append(F.linear(zm, w, bias))
            off += self.dims[m]
        return F.cross_entropy(fused, y), fused, per_mod, {}

    def forward(self, xs, y, train):
        loss, fused, _, _ = self.outputs(xs, y, train)
        return loss, fused


class NoiseStream:
    """A flat float32 tensor handed out in consecutive pieces: the Go cell's own noise stream
    (bench.NewNoise, exported by bench/perf), so that a DMI cell draws exactly the Go cell's noise."""

    def __init__(self, flat):
        self.flat, self.off = flat, 0

    def randn(self, shape):
        n = 1
        for d in shape:
            n *= d
        if self.off + n > self.flat.numel():
            raise RuntimeError(f"noise stream exhausted ({self.flat.numel()} values)")
        t = self.flat.narrow(0, self.off, n).view(shape)
        self.off += n
        return t


NOISE = None  # a NoiseStream: Bottleneck draws from it instead of torch.randn (set_noise)


def set_noise(stream):
    global NOISE
    NOISE = stream


class Bottleneck(nn.Module):
    """dmiBottleneck (variational): Linear(in -> 2d) split into (mu, logvar); z = mu + exp(lv/2)*eps."""

    def __init__(self, inp, d):
        super().__init__()
        self.lin = Linear(inp, 2 * d)
        self.d = d

    def forward(self, x, sample):
        h = self.lin(x)
        mu = h.narrow(1, 0, self.d)
        lv = h.narrow(1, self.d, self.d)
        z = mu
        if sample:
            eps = torch.randn(mu.shape) if NOISE is None else NOISE.randn(mu.shape)
            std = (lv * 0.5).exp()
            z = mu + std * eps
        return mu, lv, z


def dmi_kl(mq, lq, mp=None, lp=None):
    if mp is None:
        t = lq.exp() - lq
        t = t + mq.square()
    else:
        dl = lq - lp
        t = dl.exp() - dl
        dm2 = (mq - mp).square()
        t = t + dm2 * (-lp).exp()
    t = t + (-1.0)
    return t.mean(dtype=torch.float32) * 0.5


def dmi_rec(x, xhat):
    return (x - xhat).square().mean(dtype=torch.float32)


def dmi_info_bits(logits, y, k):
    ce = F.cross_entropy(logits, y, reduction="none")
    v = ce * (-1 / math.log(2))
    v = v + math.log2(k)
    return v.clamp_min(0)


# methods/dmi.go's loss coefficients (index [m] = modality m).
DMI_S1_KL, DMI_S1_REC = (0.008, 0.04), (0.002, 0.01)
DMI_S2_KL, DMI_S2_REC, DMI_S2_AUX = 0.02, 0.005, 0.5
DMI_S3_UNI_CE, DMI_S3_KL1, DMI_S3_REC1, DMI_S3_KL2, DMI_S3_REC2, DMI_S3_AUX = 0.5, 0.02, 0.003, 0.008, 0.001, 0.8
DMI_BITS_KEYS = ("dmi_U1_bits", "dmi_U2_bits", "dmi_R_bits", "dmi_S_bits")
DMI_GATE_KEYS = ("dmi_gate_U1", "dmi_gate_U2", "dmi_gate_R", "dmi_gate_S")


class DMI(nn.Module):
    """methods/dmi.go, variant "dmi" (variational, both levels), all three stages: Forward of each
    stage (stage 2: encoders and first level frozen, run without gradients, still sampling T and V in
    training), Stage (epoch -> stage) and EnterStage (requires_grad of the frozen variables)."""

    def __init__(self, encoders, num_classes, d=32, stage1=10, stage2=5, lrs=(0.0, 0.0, 0.0), stage=1):
        super().__init__()
        self.enc = nn.ModuleList(encoders)
        self.k, self.d = num_classes, d
        embed, vib_t, vib_v, recon, head_t = [], [], [], [], []
        for i in range(2):  # newDMI's first loop, in its order
            embed.append(Linear(encoders[i].out_dim, d))
            vib_t.append(Bottleneck(d, d))
            vib_v.append(Bottleneck(d, d))
            recon.append(MLP(2 * d, d // 2, d))
            head_t.append(Linear(d, num_classes))
        self.embed, self.vib_t, self.vib_v = nn.ModuleList(embed), nn.ModuleList(vib_t), nn.ModuleList(vib_v)
        self.recon, self.head_t = nn.ModuleList(recon), nn.ModuleList(head_t)
        self.vib_r = Bottleneck(2 * d, d)
        vib_rm, vib_u, recon_t, head_u = [], [], [], []
        for i in range(2):
            vib_rm.append(Bottleneck(d, d))
            vib_u.append(Bottleneck(d, d))
            recon_t.append(MLP(2 * d, d // 2, d))
            head_u.append(Linear(d, num_classes))
        self.vib_rm, self.vib_u = nn.ModuleList(vib_rm), nn.ModuleList(vib_u)
        self.recon_t, self.head_u = nn.ModuleList(recon_t), nn.ModuleList(head_u)
        self.syn = Linear(3 * d, d)
        self.head_r = Linear(d, num_classes)
        self.head_s = Linear(d, num_classes)
        self.gate = MLP(4 * d, d, 4)
        self.stage1, self.stage2, self.lrs, self.stage = stage1, stage2, tuple(lrs), stage
        # newDMI's frozenVars: the encoders, the embeddings, the first-level bottlenecks, recon and h_T.
        frozen = [p for p in self.enc.parameters() if p.requires_grad]
        for i in range(2):
            for mod in (self.embed[i], self.vib_t[i].lin, self.vib_v[i].lin, self.head_t[i], self.recon[i]):
                frozen.extend(mod.parameters())
        self.frozen = frozen

    def stage_of(self, epoch):
        """dmiStaged.Stage."""
        if self.stage2 == 0 or epoch <= self.stage1:
            return 1
        if epoch <= self.stage1 + self.stage2:
            return 2
        return 3

    def enter_stage(self, stage):
        """dmiStaged.EnterStage: the stage's learning rate (0 = the run's)."""
        self.stage = stage
        for p in self.frozen:
            p.requires_grad_(stage != 2)
        return self.lrs[stage - 1]

    def _first_level(self, xs, enc_train, sample, on_mean):
        e, t, v, xhat, lt = [], [], [], [], []
        for i in range(2):
            ei = self.embed[i](self.enc[i](xs[i], enc_train))
            ti = self.vib_t[i](ei, sample)
            vi = self.vib_v[i](ei, sample)
            if on_mean:
                xhat.append(None)
                lt.append(self.head_t[i](ti[0]))
            else:
                xhat.append(self.recon[i](torch.cat([ti[2], vi[2]], 1)))
                lt.append(self.head_t[i](ti[2]))
            e.append(ei)
            t.append(ti)
            v.append(vi)
        return e, t, v, xhat, lt

    def _second_level(self, t_in, v_in, train):
        r = self.vib_r(torch.cat([t_in[0], t_in[1]], 1), train)
        rm, u, t_hat, logits = [], [], [], [None] * 4
        for i in range(2):
            rm.append(self.vib_rm[i](t_in[i], train))
            u.append(self.vib_u[i](t_in[i], train))
            t_hat.append(self.recon_t[i](torch.cat([r[2], u[i][2]], 1)))
            logits[i] = self.head_u[i](u[i][2])
        prod = v_in[0] * v_in[1]
        sv = self.syn(torch.cat([v_in[0], v_in[1], prod], 1))
        logits[2] = self.head_r(r[2])
        logits[3] = self.head_s(sv)
        gin = torch.cat([u[0][2], u[1][2], r[2], sv], 1)
        gate = self.gate(gin).softmax(1, dtype=torch.float32)
        predict = None
        for c in range(4):
            term = logits[c] * gate.narrow(1, c, 1)
            predict = term if predict is None else predict + term
        return r, rm, u, t_hat, logits, gate, predict

    def outputs(self, xs, y, train):
        """DMI.Forward: (loss of the current stage, fused logits, per-modality logits, readouts)."""
        stage = self.stage
        if stage == 2:
            if train:
                with torch.no_grad():
                    e, t, v, xhat, lt = self._first_level(xs, False, True, True)
            else:
                e, t, v, xhat, lt = self._first_level(xs, False, False, True)
        else:
            e, t, v, xhat, lt = self._first_level(xs, train, train, False)
        terms = []  # (coefficient, term), accumulated as dmiLoss does: sum = sum + c*term, in the Go order
        if stage == 1:
            for i in range(2):
                terms.append((1, F.cross_entropy(lt[i], y)))
                terms.append((DMI_S1_KL[i], dmi_kl(t[i][0], t[i][1])))
                terms.append((DMI_S1_KL[i], dmi_kl(v[i][0], v[i][1])))
                terms.append((DMI_S1_REC[i], dmi_rec(e[i], xhat[i])))
            return _dmi_total(terms), (lt[0] + lt[1]) * 0.5, lt, {}
        t_in = [t[0][0], t[1][0]]  # the means of T
        v_in = [v[0][2], v[1][2]]  # the samples of V
        r, rm, u, t_hat, logits, gate, predict = self._second_level(t_in, v_in, train)
        kl2, rec2, aux = DMI_S2_KL, DMI_S2_REC, DMI_S2_AUX
        if stage == 3:
            kl2, rec2, aux = DMI_S3_KL2, DMI_S3_REC2, DMI_S3_AUX
            for i in range(2):
                terms.append((DMI_S3_UNI_CE, F.cross_entropy(lt[i], y)))
                terms.append((DMI_S3_KL1, dmi_kl(t[i][0], t[i][1])))
                terms.append((DMI_S3_KL1, dmi_kl(v[i][0], v[i][1])))
                terms.append((DMI_S3_REC1, dmi_rec(e[i], xhat[i])))
        terms.append((1, F.cross_entropy(predict, y)))
        terms.append((kl2, dmi_kl(r[0], r[1])))
        for i in range(2):
            terms.append((kl2, dmi_kl(r[0], r[1], rm[i][0], rm[i][1])))
            terms.append((kl2, dmi_kl(u[i][0], u[i][1])))
        for i in range(2):
            terms.append((rec2, dmi_rec(t_in[i], t_hat[i])))
        for c in range(4):
            terms.append((aux, F.cross_entropy(logits[c], y)))
        readout = {}
        if not train:  # the readouts the Go method computes in evaluation
            for c in range(4):
                readout[DMI_BITS_KEYS[c]] = dmi_info_bits(logits[c], y, self.k)
                readout[DMI_GATE_KEYS[c]] = gate.narrow(1, c, 1).squeeze(1)
        return _dmi_total(terms), predict, lt, readout

    def forward(self, xs, y, train):
        loss, fused, _, _ = self.outputs(xs, y, train)
        return loss, fused


def _dmi_total(terms):
    total = None
    for coef, term in terms:
        if coef != 1:
            term = term * coef
        total = term if total is None else total + term
    return total


def go_name(name):
    """The Go VarStore name of a parameter of these modules (bench.Build: enc<m>.<layer>.weight for the
    encoders, method.<layer>.weight for the method), e.g. enc.0.layers.1.weight -> enc0.1.weight,
    vib_rm.1.lin.bias -> method.vib_r1.bias, recon_t.0.layers.1.weight -> method.recon_t0.1.weight."""
    parts = name.split(".")
    if parts[0] == "enc":  # MLPEncoder: enc.<m>.layers.<i>.<leaf>
        if len(parts) != 5 or parts[2] != "layers":
            raise ValueError(f"no Go name for {name}")
        return f"enc{parts[1]}.{parts[3]}.{parts[4]}"
    layer, rest = parts[0], parts[1:]
    if rest and rest[0].isdigit():
        layer, rest = {"vib_rm": "vib_r"}.get(layer, layer) + rest[0], rest[1:]
    layer = {"syn": "synergy"}.get(layer, layer)
    if rest and rest[0] in ("lin", "layers"):
        rest = rest[1:]
    return ".".join(["method", layer] + rest)


# --------------------------------------------------------------------------------------------------
# The four perf models (names and shapes as in bench/perf/models.go).

MODELS = {
    "joint-mlp": dict(method="joint", encoder="mlp", shapes=[(48,), (48,)], classes=4, batch=64),
    "dmi3-mlp": dict(method="dmi3", encoder="mlp", shapes=[(48,), (48,)], classes=4, batch=64),
    "joint-lenet": dict(method="joint", encoder="lenet", shapes=[(1, 28, 28), (1, 64, 32)], classes=10, batch=64),
    "joint-resnet18": dict(method="joint", encoder="resnet18", shapes=[(1, 257, 188), (3, 1, 224, 224)], classes=6, batch=8),
}


def build(name, seed):
    """Builds model `name` as bench.Build does (seed, then encoders in modality order, then the
    method), then draws the inputs as bench/perf does (seed+1: randn per modality, then randint
    labels). Returns (model, xs, y)."""
    spec = MODELS[name]
    torch.manual_seed(seed)
    encoders = [make_encoder(spec["encoder"], s) for s in spec["shapes"]]
    if spec["method"] == "joint":
        model = Joint(encoders, spec["classes"])
    else:
        model = DMI(encoders, spec["classes"], stage=3)
    torch.manual_seed(seed + 1)
    xs = [torch.randn((spec["batch"],) + tuple(s)) for s in spec["shapes"]]
    y = torch.randint(0, spec["classes"], (spec["batch"],))
    return model, xs, y
