"""Moebius configs shared by the tests."""

# A small model that needs no fixture files: the tiny fixture's widths at latent 8x8.
SMALL_CONFIG = {
    "unet_constructor_args": {
        "sample_size": 8,
        "block_out_channels": [16, 24, 32],
        "attention_head_dim": 4,
        "norm_num_groups": 8,
        "cross_attention_dim": 24,
        "encoder_hid_dim": 40,
    },
    "removal_model": {"num_embeddings": 20, "embedding_dim": 40},
}
