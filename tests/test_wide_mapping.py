"""Task 1: cropping the panorama into windows and pasting them back, at the course's real geometry."""

import torch


def test_course_geometry_has_41_windows_of_64_with_stride_8(course_geometry_model):
    mapper = course_geometry_model.mapper
    assert len(mapper) == 41
    assert [w0 for _, _, w0, _ in mapper] == list(range(0, 321, 8))
    assert all((h0, h1, w1 - w0) == (0, 64, 64) for h0, h1, w0, w1 in mapper)


def test_forward_mapping_crops_each_window(course_geometry_model):
    model = course_geometry_model
    z = torch.randn(1, 4, 64, 384)
    crops = model.forward_mapping(z)
    assert crops.shape == (41, 4, 64, 64)
    for crop, (h0, h1, w0, w1) in zip(crops, model.mapper):
        torch.testing.assert_close(crop, z[0, :, h0:h1, w0:w1], rtol=0, atol=0)


def test_inverse_mapping_averages_overlaps_by_their_counts(course_geometry_model):
    model = course_geometry_model
    # window i holds the constant i; a latent column is the mean of the windows that cover it
    windows = torch.arange(41, dtype=torch.float32).view(41, 1, 1, 1).expand(41, 4, 64, 64)
    canvas = model.inverse_mapping(windows)
    assert canvas.shape == (1, 4, 64, 384)
    for column in [0, 7, 8, 63, 64, 100, 191, 320, 383]:
        covering = [i for i, (_, _, w0, w1) in enumerate(model.mapper) if w0 <= column < w1]
        expected = sum(covering) / len(covering)
        torch.testing.assert_close(canvas[0, :, :, column], torch.full((4, 64), expected))


def test_inverse_of_forward_is_identity(course_geometry_model):
    # summing without dividing by the counts, or dividing by the window count, fails this
    z = torch.randn(1, 4, 64, 384)
    torch.testing.assert_close(course_geometry_model.inverse_mapping(course_geometry_model.forward_mapping(z)), z)


def test_synchronizing_twice_changes_nothing(wide_model):
    # f∘g projects onto panoramas whose windows agree: a second application is a no-op
    model = wide_model
    windows = torch.randn(len(model.mapper), 4, 8, 8)
    once = model.forward_mapping(model.inverse_mapping(windows))
    torch.testing.assert_close(model.forward_mapping(model.inverse_mapping(once)), once)
    assert not torch.allclose(once, windows)


def test_mappings_keep_dtype(wide_model):
    z = torch.randn(1, 4, 8, 48, dtype=torch.float16)
    assert wide_model.forward_mapping(z).dtype == torch.float16
    assert wide_model.inverse_mapping(wide_model.forward_mapping(z)).dtype == torch.float16
