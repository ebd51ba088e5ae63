"""Does the learned engines' runtime work here? torch computes and a (tiny) diffusers VAE round-trips.

Used by `inpaint-studio --self-test`, for the frozen app above all, where a
missing library file shows up only when torch or diffusers is first used.
"""

from __future__ import annotations

from inpaint_studio.core.errors import SelfCheckFailed


def check_learned_runtime() -> str:
    """The self-test's check that torch and diffusers load and compute; raises SelfSelfCheckFailed saying what failed."""
    import torch

    from inpaint_studio.engines.moebius.vae import build_vae

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        out = conv(torch.rand(1, 4, 32, 32))
        if out.shape != (1, 3, 32, 32) or not torch.isfinite(out).all():
            raise SelfCheckFailed("a convolution gave a wrong result")
        # The Moebius VAE is diffusers' AutoencoderKL: build a tiny one and round-trip a patch.
        vae = build_vae(
            {
                "in_channels": 3,
                "out_channels": 3,
                "latent_channels": 4,
                "block_out_channels": [8, 16],
                "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
                "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
                "layers_per_block": 1,
                "norm_num_groups": 4,
                "sample_size": 32,
            }
        )
        latent = vae.encode(torch.rand(1, 3, 32, 32) * 2 - 1).latent_dist.mode()
        decoded = vae.decode(latent).sample
    if decoded.shape != (1, 3, 32, 32) or not torch.isfinite(decoded).all():
        raise SelfCheckFailed("the diffusers VAE gave a wrong result")
    import diffusers

    return f"torch {torch.__version__.split('+')[0]}, diffusers {diffusers.__version__}: convolution and VAE round trip"
