"""Click-to-select with MobileSAM: a Segment-Anything model whose image encoder is a 5M-parameter TinyViT.

The photo is encoded once (seconds on a CPU, off the GUI thread); each set of clicks and a box is
then turned into a mask by the small prompt encoder and mask decoder in a few milliseconds
(`session.SamSession`). The modules below build the network with the parameter names of the
published `mobile_sam.pt` state dict, so that file loads strictly through the safe loader.

Importing this package does not import torch; its modules do, and only code that selects with
SAM imports them.
"""

MODEL_ID = "mobile-sam"  # the catalogue entry (models/catalogue.py)
