"""Generation by the SDE's own stationary law (issue 18): train a latent generator variant, then score it.

    python benchmarks/generate_law.py runs/law/mnist --law 1 --G learnable --flow-noise 0 --conv 0 \
        --spread 1 --target-std 0.01 --code-scale 0.01 --eps 0.015 --epochs 30 --attractors random \
        --lna-steps 20000 --lna-paths 500 --dyn-epochs 5

trains (unless --score-only), then writes OUT/score.json: the latent classifier's test accuracy, the
codes' and the law's spread, every sampler's classified fraction (independent MLP judge), local
Fréchet distance and basin fraction (share of its samples whose noise-free flow returns to the
requested attractor), the LNA-vs-simulation error at the model's operating noise per class, and
(--dyn-epochs) the same scores through a dynamical decoder fitted on the codes. Sample grids go to OUT.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from sanode.analysis.lna import lna_check
from sanode.data import load_splits
from sanode.generate import LatentConfig, LatentGenerator, LossWeights, make_sampler, train_feature_net, train_latent
from sanode.generate.grids import save_grid
from sanode.generate.scoring import score_sampler
from sanode.solvers import integrate

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--dataset", default="mnist")
p.add_argument("--law", type=float, default=0.0)
p.add_argument("--prior", type=float, default=0.0)
p.add_argument("--conv", type=float, default=1.0)
p.add_argument("--spread", type=float, default=0.0)
p.add_argument("--code-scale", type=float, default=1.0)
p.add_argument("--steps", type=int, default=50)
p.add_argument("--dt", type=float, default=0.03)
p.add_argument("--c", type=float, default=0.125)
p.add_argument("--target-std", type=float, default=0.05)
p.add_argument("--G", default="identity")
p.add_argument("--eps", type=float, default=0.06)
p.add_argument("--flow-noise", type=int, default=1)
p.add_argument("--attractors", default="class_blocks")
p.add_argument("--n-latent", type=int, default=20)
p.add_argument("--decoder-input", default="centered")
p.add_argument("--architecture", default="mlp")
p.add_argument("--channels", default="32,64")
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--lr-schedule", default="constant")
p.add_argument("--encoder-relu", type=int, default=1)
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--budget", type=float, default=None)
p.add_argument("--per-class", type=int, default=1000)
p.add_argument("--lna-steps", type=int, default=5000)
p.add_argument("--lna-paths", type=int, default=200)
p.add_argument("--score-only", action="store_true")
p.add_argument("--dyn-epochs", type=int, default=0)
p.add_argument("--refit-activity", metavar="SRC", help="score SRC/model with its noise refitted as activity noise G(x)")
a = p.parse_args()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
splits = load_splits(a.dataset, seed=0)
stem = out / "model"
if not a.score_only:
    cfg = LatentConfig(
        eps=a.eps,
        G=a.G,
        flow_noise=bool(a.flow_noise),
        attractors=a.attractors,
        n_latent=a.n_latent,
        weights=LossWeights(law=a.law, prior=a.prior, conv=a.conv, spread=a.spread),
        target_std=a.target_std,
        code_scale=a.code_scale,
        decoder_input=a.decoder_input,
        encoder_relu=bool(a.encoder_relu),
        architecture=a.architecture,
        channels=tuple(int(c) for c in a.channels.split(",")),
        steps=a.steps,
        dt=a.dt,
        c=a.c,
        seed=0,
    )
    model = LatentGenerator(splits.train.n_features, splits.train.n_classes, cfg, image_shape=splits.train.image_shape)
    t0 = time.perf_counter()
    hist = train_latent(
        model,
        splits.train,
        epochs=a.epochs,
        lr=a.lr,
        lr_schedule=a.lr_schedule,
        seed=0,
        time_budget_s=a.budget,
        log=lambda r: print({k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()}, flush=True),
    )
    model.save(stem, {"history": hist, "train_seconds": time.perf_counter() - t0})
    print("trained", time.perf_counter() - t0, flush=True)
if a.refit_activity:
    # The SDE's noise refitted after training as ActivityNoise (encoder, coupling and decoder untouched).
    from sanode.generate import refit_activity_noise

    src, meta = LatentGenerator.load(Path(a.refit_activity) / "model")
    refit_activity_noise(src, splits.train).save(stem, meta)
model, meta = LatentGenerator.load(stem)
t0 = time.perf_counter()
net = train_feature_net(splits.train, splits.test, hidden=256, epochs=5, seed=0)
gen = torch.Generator().manual_seed(0)
z = model.final_codes(splits.test.x, generator=torch.Generator().manual_seed(1))
nearest = ((z[:, None, :] - model.attractors[None]) ** 2).sum(-1).argmin(-1)
res = {
    "args": vars(a),
    "train_seconds": meta.get("train_seconds"),
    "judge": net.test_accuracy,
    "latent_acc": float((nearest == splits.test.y).double().mean()),
}
st = model.statistics
res["code_std_mean"] = float(st.covariances.diagonal(dim1=1, dim2=2).sqrt().mean())
noise = model.dynamics.noise
if noise is not None:
    if hasattr(noise, "covariance_factor"):
        res["G_fro"] = float(noise.covariance_factor(torch.float64).detach().norm())
    res["eps"] = noise.eps
try:
    from sanode.generate.law import law_covariances

    covs = law_covariances(model.dynamics).detach()
    res["law_std_mean"] = float(covs.diagonal(dim1=1, dim2=2).sqrt().mean())
    res["law_vs_emp_rel_fro"] = [
        float((covs[k] - st.covariances[k]).norm() / st.covariances[k].norm()) for k in range(model.n_classes)
    ]
except Exception as e:
    res["law_error"] = str(e)
scores = {}
field = model.dynamics.drift.frozen()
f64 = type(field)(field.reaction, field.filter, field.beta, field.matrix.detach().double())
for name in ("empirical", "lna", "time_sample", "time_sample_eq"):
    try:
        s = make_sampler(name, model.dynamics, st)
    except Exception as e:
        scores[name] = {"error": str(e)}
        continue
    r = score_sampler(name, s, model.decode, net, splits.test.x, n_per_class=a.per_class, generator=gen).to_dict()
    # basin: the noise-free flow from each sample returns to the requested attractor
    hits = []
    for k in range(model.n_classes):
        zs = s.sample(k, 200, gen)
        end = integrate(f64, zs, dt=0.03, steps=400, backend="autograd")
        d2 = ((end[:, None, :] - model.attractors.double()[None]) ** 2).sum(-1)
        hits.append(float(((d2.argmin(-1) == k) & (d2.min(-1).values < 1e-4)).double().mean()))
    r["basin"] = sum(hits) / len(hits)
    scores[name] = r
    print(name, {k: r[k] for k in ("classified_fraction", "local_frechet", "basin")}, flush=True)
    rows = [model.decode(s.sample(k, 10, gen)) for k in range(model.n_classes)]
    save_grid(torch.stack(rows), model.image_shape, out / f"samples-{name}.png")
res["samplers"] = scores
if a.dyn_epochs:
    from sanode.generate.decoder import train_decoder
    from sanode.generate.dynamical_decoder import DynamicalDecoder
    from sanode.generate.frechet import local_frechet_distance

    td = time.perf_counter()
    codes = model.final_codes(splits.train.x)

    def norm(zz: torch.Tensor) -> torch.Tensor:  # the dynamical decoder reads the basin's chart
        return model.chart(zz).float()

    dyn = DynamicalDecoder(norm(codes[:1]).shape[1], model.n_in, steps=5, dt=0.2, seed=0)
    hist = train_decoder(dyn, norm(codes), splits.train.x.float(), epochs=a.dyn_epochs, lr=1e-3, seed=0)
    ztest = model.final_codes(splits.test.x)
    dres = {
        "history": hist,
        "train_seconds": time.perf_counter() - td,
        "frechet_reconstructions": local_frechet_distance(net, splits.test.x, dyn(norm(ztest)).detach()),
        "mlp_frechet_reconstructions": local_frechet_distance(net, splits.test.x, model.decode(ztest).detach()),
    }
    for name in ("empirical", "lna", "time_sample"):
        s = make_sampler(name, model.dynamics, st)
        r = score_sampler(
            name, s, lambda zz: dyn(norm(zz)).detach(), net, splits.test.x, n_per_class=a.per_class, generator=gen
        ).to_dict()
        dres[name] = r
        print("dynamical decoder", name, r["classified_fraction"], r["local_frechet"], flush=True)
        rows = [dyn(norm(s.sample(k, 10, gen))).detach() for k in range(model.n_classes)]
        save_grid(torch.stack(rows), model.image_shape, out / f"samples-dyn-{name}.png")
    res["dynamical_decoder"] = dres
if noise is not None and a.lna_steps:
    errs = []
    for k in range(model.n_classes):
        try:
            c = lna_check(
                model.dynamics,
                k,
                dt=0.01,
                steps=a.lna_steps,
                burn_in=500,
                n_paths=a.lna_paths,
                generator=torch.Generator().manual_seed(k),
            )
            errs.append((c.relative_error, c.noise_floor))
        except Exception as e:
            errs.append(str(e))
    res["lna_check_operating"] = errs
res["score_seconds"] = time.perf_counter() - t0
(out / "score.json").write_text(json.dumps(res, indent=1, default=str))
print(json.dumps({k: v for k, v in res.items() if k != "samplers"}, default=str))
