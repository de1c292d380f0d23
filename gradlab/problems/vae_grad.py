"""Per-sample gradients of the categorical VAE for a chunk of ``R`` samples, as large matrix products.

What does not depend on the sample is computed once per chunk: the encoder's forward pass (its
activations are shared by all samples). What does is batched: the decoder runs on all ``R x B`` (or
``R x m x B`` for RF(m)) latent codes at once with the shared weights, and the per-sample weight gradients
are batched products ``d_r^T a_r`` written into reusable buffers (no fresh multi-hundred-megabyte
allocation per chunk). The estimator itself runs through plain autograd on the replicated logits.

The decoder weights enter as stride-0 replicated views ``W.expand(R, ...)``: the replica axis is real for
autograd (each replica gets its own gradient) but free in memory; :class:`_SharedWeightMLP` uses the shared
matrix in the forward pass and returns per-replica gradients in the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["vae_per_sample_gradients"]


def _buffer(workspace: dict, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A reusable output buffer of at least ``shape[0]`` rows (sliced to ``shape``)."""
    buf = workspace.get(name)
    if buf is None or buf.shape[0] < shape[0] or tuple(buf.shape[1:]) != tuple(shape[1:]) or buf.dtype != like.dtype:
        buf = torch.empty(shape, dtype=like.dtype, device=like.device)
        workspace[name] = buf
    return buf[: shape[0]]


def _leaky_slope(pre: torch.Tensor, slope: float) -> torch.Tensor:
    """Derivative of LeakyReLU at ``pre``, in ``pre``'s dtype: 1 where ``pre > 0``, else ``slope``."""
    return (pre > 0).to(pre.dtype).mul_(1.0 - slope).add_(slope)


class _SharedWeightMLP(torch.autograd.Function):
    """``z (R, N, in)`` through Linear/LeakyReLU layers whose weights are replicated views ``(R, out, in)``.

    Forward: one ``(R N, in) x (in, out)`` product per layer with the shared weights. Backward: the input
    gradient, and per-replica weight gradients ``bmm(d^T, a)`` into workspace buffers.
    """

    @staticmethod
    def forward(ctx, z, workspace, names, slope, *weights):
        r, n, _ = z.shape
        n_layers = len(weights) // 2
        h = z.reshape(r * n, -1)
        acts, pres = [h], []
        for i in range(n_layers):
            w, b = weights[2 * i][0], weights[2 * i + 1][0]
            pre = torch.addmm(b, h, w.t())
            if i < n_layers - 1:
                pres.append(pre)
                h = F.leaky_relu(pre, slope)
                acts.append(h)
            else:
                h = pre
        ctx.save_for_backward(*acts, *pres, *[w[0] for w in weights[0::2]])
        ctx.meta = (r, n, n_layers, slope, workspace, names)
        return h.reshape(r, n, -1)

    @staticmethod
    def backward(ctx, grad_out):
        r, n, n_layers, slope, workspace, names = ctx.meta
        saved = ctx.saved_tensors
        acts, pres, ws = saved[:n_layers], saved[n_layers : 2 * n_layers - 1], saved[2 * n_layers - 1 :]
        grads = [None] * (2 * n_layers)
        d = grad_out.reshape(r, n, -1)
        want_weights = ctx.needs_input_grad[4]
        for i in reversed(range(n_layers)):
            if want_weights:
                a = acts[i].reshape(r, n, -1)
                gw = _buffer(workspace, names[2 * i], (r, d.shape[-1], a.shape[-1]), d)
                gb = _buffer(workspace, names[2 * i + 1], (r, d.shape[-1]), d)
                grads[2 * i] = torch.bmm(d.transpose(1, 2), a, out=gw)
                grads[2 * i + 1] = torch.sum(d, dim=1, out=gb)
            if i > 0 or ctx.needs_input_grad[0]:
                dn = d.reshape(r * n, -1) @ ws[i]
                if i > 0:
                    dn = dn.mul_(_leaky_slope(pres[i - 1], slope))
                d = dn.reshape(r, n, -1)
        return (d if ctx.needs_input_grad[0] else None, None, None, None, *grads)


def _encoder_forward(prob, params, data):
    arch = prob.arch
    n_layers = arch.n_layers("encoder")
    h, acts, pres = data, [data], []
    for i in range(n_layers):
        pre = F.linear(h, params[f"encoder.{i}.weight"], params[f"encoder.{i}.bias"])
        if i < n_layers - 1:
            pres.append(pre)
            h = F.leaky_relu(pre, arch.slope)
            acts.append(h)
        else:
            h = pre
    return h.reshape(*h.shape[:-1], arch.num_vars, arch.num_classes), acts, pres


def _encoder_backward(prob, params, acts, pres, dlogits, workspace, out):
    """Per-sample encoder gradients from per-sample logits gradients ``(R, B, V, K)``; the activations are
    shared, so each weight gradient of all ``R`` samples is one ``(R out, B) x (B, in)`` product."""
    arch = prob.arch
    r, b = dlogits.shape[:2]
    d = dlogits.reshape(r, b, -1)
    for i in reversed(range(arch.n_layers("encoder"))):
        a = acts[i]  # (B, in)
        o = d.shape[-1]
        wname, bname = f"encoder.{i}.weight", f"encoder.{i}.bias"
        gw = _buffer(workspace, wname, (r, o, a.shape[-1]), d)
        torch.mm(d.transpose(1, 2).reshape(r * o, b), a, out=gw.view(r * o, -1))
        out[wname] = gw
        out[bname] = torch.sum(d, dim=1, out=_buffer(workspace, bname, (r, o), d))
        if i > 0:
            d = (d @ params[wname]).mul_(_leaky_slope(pres[i - 1], arch.slope))


def vae_per_sample_gradients(prob, estimator, uniforms, wrt, workspace):
    from ..sampler import replicated_gradients
    from .vae import kl_to_uniform

    names = prob.check_wrt(wrt)
    if wrt == "logits":
        return replicated_gradients(prob, estimator, uniforms, wrt)
    workspace = {} if workspace is None else workspace
    params = prob.param_values()
    want_enc = any(n.startswith("encoder.") for n in names)
    want_dec = any(n.startswith("decoder.") for n in names)
    r = uniforms.shape[0]
    arch, data, model = prob.arch, prob.data, prob.model
    bsz = data.shape[0]
    dec_names = [f"decoder.{i}.{p}" for i in range(arch.n_layers("decoder")) for p in ("weight", "bias")]
    with torch.enable_grad():
        logits, acts, pres = _encoder_forward(prob, params, data)
        lat = logits.detach().unsqueeze(0).expand(r, *logits.shape).requires_grad_()
        dec = [params[nm].unsqueeze(0).expand(r, *params[nm].shape).requires_grad_(want_dec) for nm in dec_names]
        fwd = estimator.forward_logits(lat)
        kl = kl_to_uniform(fwd)  # (R, B)

        def loss(x):  # x: (*extra, R, B, V, K); RF(m) puts its m draws in front
            extra = tuple(x.shape[:-4])
            z = model.embed(x).movedim(-3, 0).reshape(r, -1, arch.latent_width)
            d = _SharedWeightMLP.apply(z, workspace, dec_names, arch.slope, *dec)
            d = d.reshape(r, *extra, bsz, -1).movedim(0, -3)
            nll = F.softplus(d).sum(-1) - (d * data).sum(-1)
            return (nll + kl) / bsz

        out = estimator.surrogate(lat, loss, uniforms)
        inputs = ([lat] if want_enc else []) + (dec if want_dec else [])
        grads = torch.autograd.grad(out.sum(), inputs)
    result = dict(zip(dec_names, grads[1:] if want_enc else grads, strict=False)) if want_dec else {}
    if want_enc:
        _encoder_backward(prob, params, acts, pres, grads[0], workspace, result)
    return {n: result[n] for n in names}
