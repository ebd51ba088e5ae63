"""Moebius: the lightweight latent-diffusion inpainting network (arXiv 2606.19195) and its DDIM sampler.

`network.build_model(config)` builds the checkpoint's wrapper (condition
embedding + UNet of lambda layers, depthwise-separable resnets and Mix-FFN
transformer blocks) and `sampler.denoise(...)` runs the guided DDIM loop on VAE
latents; `runtime` loads the models and fills a crop. The specification is
../shared/moebius/SPEC.md. Those modules import torch, so the engine imports
them only when a fill runs; this package itself and `presets` import nothing heavy.
"""
