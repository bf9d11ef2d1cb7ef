"""CCA baseline: canonical correlations vs an SVD of the whitened cross-covariance, constraints, codes."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from hashnotes.data.base import PairSet
from hashnotes.methods.cca import CCA, CCAConfig


def _correlated_pairs(n=400, dx=12, dy=9, k=3, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    X = z @ rng.normal(size=(k, dx)) + 0.5 * rng.normal(size=(n, dx)) + 3.0
    Y = z @ rng.normal(size=(k, dy)) + 0.5 * rng.normal(size=(n, dy)) - 1.0
    labels = (rng.random((n, 3)) < 0.5).astype(np.uint8)
    return PairSet(images=X.astype(np.float32), texts=Y.astype(np.float32), labels=labels,
                   ids=np.arange(n, dtype=np.int64)), X.astype(np.float32).astype(np.float64), \
        Y.astype(np.float32).astype(np.float64)


def _reg_cov(A, B, reg):
    n = A.shape[0]
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    Caa = Ac.T @ Ac / (n - 1)
    Caa += reg * np.trace(Caa) / Caa.shape[0] * np.eye(Caa.shape[0])
    return Caa, Ac.T @ Bc / (n - 1)


def test_correlations_equal_svd_of_whitened_cross_covariance():
    pairs, X, Y = _correlated_pairs()
    m = CCA(bits=6, reg=1e-3).fit(pairs)
    Cxx, Cxy = _reg_cov(X, Y, 1e-3)
    Cyy, _ = _reg_cov(Y, X, 1e-3)
    Wx = np.linalg.inv(scipy.linalg.sqrtm(Cxx).real)
    Wy = np.linalg.inv(scipy.linalg.sqrtm(Cyy).real)
    sv = np.linalg.svd(Wx @ Cxy @ Wy, compute_uv=False)
    np.testing.assert_allclose(m.correlations, sv[:6], rtol=1e-6, atol=1e-9)
    assert m.correlations[0] > 0.9 and m.correlations[3] < 0.5  # three shared latent factors


def test_projections_are_canonical():
    pairs, X, Y = _correlated_pairs(seed=1)
    reg = 1e-2
    m = CCA(bits=5, reg=reg).fit(pairs)
    A, Bm = m.artifacts["proj_x"].numpy(), m.artifacts["proj_y"].numpy()
    Cxx, Cxy = _reg_cov(X, Y, reg)
    Cyy, _ = _reg_cov(Y, X, reg)
    np.testing.assert_allclose(A.T @ Cxx @ A, np.eye(5), atol=1e-8)  # uncorrelated, unit variance
    np.testing.assert_allclose(Bm.T @ Cyy @ Bm, np.eye(5), atol=1e-8)
    np.testing.assert_allclose(A.T @ Cxy @ Bm, np.diag(m.correlations), atol=1e-8)
    # projections are the centred data times the directions; codes are their signs (sign(0) = +1)
    P = m.project_image(pairs.images)
    np.testing.assert_allclose(P, (X - X.mean(0)) @ A, atol=1e-8)
    codes = m.encode_image(pairs.images)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, np.where(P >= 0, 1, -1))


def test_pixels_and_pca_reduction():
    rng = np.random.default_rng(0)
    n = 120
    z = rng.normal(size=(n, 2))
    images = np.clip(128 + 40 * (z @ rng.normal(size=(2, 3 * 8 * 8))), 0, 255).astype(np.uint8).reshape(n, 3, 8, 8)
    texts = (z @ rng.normal(size=(2, 30)) + 0.1 * rng.normal(size=(n, 30))).astype(np.float32)
    pairs = PairSet(images, texts, (rng.random((n, 2)) < 0.5).astype(np.uint8), np.arange(n))
    m = CCA(bits=2, pixel_size=4, max_dim=20).fit(pairs)  # 3*4*4 = 48 pixels -> PCA to 20
    assert m.artifacts["proj_x"].numpy().shape == (48, 2) and m.artifacts["proj_y"].numpy().shape == (30, 2)
    assert m.correlations[0] > 0.9
    assert m.encode_image(images).shape == (n, 2)


def test_save_load_and_errors(tmp_path):
    pairs, _, _ = _correlated_pairs()
    m = CCA(bits=4).fit(pairs)
    p = m.save(tmp_path / "cca.pt")
    back = CCA.load(p)
    assert back.config == m.config
    np.testing.assert_array_equal(back.encode_text(pairs.texts), m.encode_text(pairs.texts))
    with pytest.raises(ValueError, match="bits=20 exceeds"):
        CCA(bits=20, extra_bits="error").fit(pairs)
    with pytest.raises(ValueError, match="extra_bits"):
        CCAConfig(extra_bits="pad")
    with pytest.raises(ValueError, match="not fitted"):
        CCA(bits=4).encode_text(pairs.texts)
    with pytest.raises(ValueError, match="texts must be"):
        m.encode_text(pairs.texts[:, :3])
    with pytest.raises(ValueError, match="reg"):
        CCAConfig(reg=-1.0)
    with pytest.raises(FileNotFoundError):
        CCA.load(tmp_path / "none.pt")
    assert CCA.small(bits=8).config.bits == 8 and CCA.paper(bits=16).config.bits == 16


def test_more_bits_than_canonical_pairs_are_random_projections_of_the_canonical_space(tmp_path):
    pairs, X, Y = _correlated_pairs(n=300, dx=12, dy=5, seed=2)  # r = min(12, 5) = 5 canonical pairs
    few = CCA(bits=5).fit(pairs)
    assert "rotation" not in few.artifacts  # bits <= r: the classic top pairs
    many = CCA(bits=32, seed=3).fit(pairs)
    R = many.artifacts["rotation"].numpy()
    assert R.shape == (5, 32) and len(many.correlations) == 5
    np.testing.assert_allclose(many.correlations, few.correlations)
    # seeded, each canonical direction scaled by its correlation
    np.testing.assert_allclose(R, few.correlations[:, None] * np.random.default_rng(3).standard_normal((5, 32)))
    plain = CCA(bits=32, seed=3, projection_weight="none").fit(pairs).artifacts["rotation"].numpy()
    np.testing.assert_array_equal(plain, np.random.default_rng(3).standard_normal((5, 32)))
    # codes = sign(z diag(rho) R) with z the five canonical variates, one R shared by both modalities
    Zx, Zy = few.project_image(pairs.images), few.project_text(pairs.texts)
    np.testing.assert_allclose(many.project_image(pairs.images), Zx @ R, atol=1e-8)
    np.testing.assert_array_equal(many.encode_text(pairs.texts), np.where(Zy @ R >= 0, 1, -1))
    # random hyperplanes: the Hamming distance estimates the angle between the weighted canonical embeddings
    big = CCA(bits=4096, seed=0).fit(pairs)
    ci, ct = big.encode_image(pairs.images[:40]), big.encode_text(pairs.texts[:40])
    ham = (ci[:, None, :] != ct[None, :, :]).mean(2)
    Wx, Wy = Zx[:40] * few.correlations, Zy[:40] * few.correlations
    cos = (Wx @ Wy.T) / np.outer(np.linalg.norm(Wx, axis=1), np.linalg.norm(Wy, axis=1))
    np.testing.assert_allclose(ham, np.arccos(np.clip(cos, -1, 1)) / np.pi, atol=0.05)
    back = CCA.load(many.save(tmp_path / "many.pt"))
    np.testing.assert_array_equal(back.encode_image(pairs.images), many.encode_image(pairs.images))
