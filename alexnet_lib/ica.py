"""Paper §6.1 (Figure 3): the reference for trained conv1 kernels, ICA of patches of photographs.

The kernels of Figure 3 (oriented edges, gratings, colour blobs) are also what independent
component analysis finds in small patches of natural images (Bell and Sejnowski, 1997; in colour,
Hoyer and Hyvärinen, 2000): the directions along which patches are most non-Gaussian. That gives
what a first layer trained on photographs *should* look like without training a net:

* `photo_patches`: random 11×11×3 patches of the offline photographs (`reference_photographs`);
* `fast_ica`: the symmetric FastICA algorithm (Hyvärinen, 1999) in a few lines of torch, whose
  basis vectors, shaped as kernels, are the reference picture.
"""

from __future__ import annotations

import matplotlib.cbook
import numpy as np
import skimage.data
import torch
from PIL import Image

from .errors import AlexNetError
from .preprocess import rescale_shorter_side


def reference_photographs() -> dict[str, Image.Image]:
    """Nine real colour photographs that ship with scikit-image and matplotlib (offline)."""
    sk = {name: getattr(skimage.data, name)() for name in
          ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")}
    sk["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        sk["grace_hopper"] = np.array(Image.open(file).convert("RGB"))
    return {name: Image.fromarray(image) for name, image in sk.items()}


def photo_patches(size: int = 11, count: int = 50_000, side: int = 256, seed: int = 0) -> torch.Tensor:
    """``count`` random ``size``×``size`` RGB patches, the same number from each photograph, each
    first rescaled so that its shorter side is ``side`` pixels (the scale §2 gives ImageNet's
    images). Float64 N×3×size×size, pixel values 0..255."""
    photos = [torch.from_numpy(np.array(rescale_shorter_side(p, side))).permute(2, 0, 1).double()
              for p in reference_photographs().values()]
    g = torch.Generator().manual_seed(seed)
    patches = []
    for i, photo in enumerate(photos):
        n = count // len(photos) + (i < count % len(photos))
        top = torch.randint(0, photo.shape[1] - size + 1, (n,), generator=g)
        left = torch.randint(0, photo.shape[2] - size + 1, (n,), generator=g)
        patches += [photo[:, t:t + size, l:l + size] for t, l in zip(top.tolist(), left.tolist())]
    return torch.stack(patches)


def fast_ica(patches: torch.Tensor, components: int = 96, iterations: int = 200, tol: float = 1e-6,
             seed: int = 0) -> tuple[torch.Tensor, int]:
    """Independent components of ``patches`` (N×C×h×w): the basis vectors as kernels, and the
    number of iterations run.

    Each patch's mean is removed (its brightness, which the photographs vary most in), then PCA
    whitens the patches, keeping the ``components`` directions of largest variance (which also
    drops the finest, noisiest frequencies). Symmetric FastICA with the tanh non-linearity then
    turns the whitened space until its axes are as non-Gaussian as possible::

        W <- E[tanh(W z) zᵀ] - diag(E[1 - tanh²(W z)]) W,   then  W <- (W Wᵀ)^(-1/2) W

    from a seeded random orthogonal W, until no row of W turns by more than ``tol``. A patch is
    then ``sum_k s_k a_k``, the a_k (columns of the de-whitened inverse of W) being the basis vectors;
    they are returned ``components``×C×h×w, in the order of the variance they carry (largest first),
    each with its largest weight positive (an independent component's sign is arbitrary).
    """
    if patches.dim() != 4 or components > patches[0].numel():
        raise AlexNetError(f"fast_ica needs N×C×h×w patches with at least {components} values each, "
                           f"got shape {tuple(patches.shape)}.")
    x = patches.double().flatten(1)
    x = x - x.mean(dim=1, keepdim=True)
    x = x - x.mean(dim=0)
    eigenvalues, eigenvectors = torch.linalg.eigh(x.T @ x / len(x))
    keep = eigenvalues.argsort(descending=True)[:components]
    scale, basis = eigenvalues[keep].sqrt(), eigenvectors[:, keep]
    z = (x @ basis) / scale  # whitened: identity covariance
    w = torch.linalg.qr(torch.randn(components, components, generator=torch.Generator().manual_seed(seed),
                                    dtype=torch.float64))[0]
    for step in range(1, iterations + 1):
        projected = torch.tanh(z @ w.T)
        new = projected.T @ z / len(z) - (1 - projected.square()).mean(dim=0)[:, None] * w
        u, _, v = torch.linalg.svd(new)
        new = u @ v  # (W Wᵀ)^(-1/2) W
        turned = (1 - (new * w).sum(dim=1).abs()).abs().max().item()
        w = new
        if turned < tol:
            break
    mixing = (basis * scale) @ w.T  # column k: basis vector a_k, in pixel space
    mixing = mixing[:, mixing.square().sum(dim=0).argsort(descending=True)]
    sign = torch.sign(mixing.gather(0, mixing.abs().argmax(dim=0, keepdim=True)))
    return (mixing * sign).T.reshape(components, *patches.shape[1:]).float(), step
