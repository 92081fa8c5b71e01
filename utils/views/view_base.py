"""The contract every view follows.

A view is an invertible (or nearly invertible) transform of one image, used to
make visual anagrams: the same picture must look like prompt i after view i.
"""


class BaseView:
    """Base class: a view maps an image to its transformed version and back.

    Contract:
    - `im` is a float tensor of shape [C, H, W] with H == W; any number of
      channels (3 for pixels, 4 for latents), any size, any dtype (float16
      included) and any device.
    - Both methods return a tensor of the same shape, dtype and device.
    - Extra keyword arguments (e.g. `bg=`, `var_type=`, `stage_2=`) are
      accepted and ignored, so callers can pass the same kwargs to every view
      (the mappings receive `bg` and `var_type` from the sampler; what they
      are for: BaseModel.forward_mapping / inverse_mapping in
      guidance/base_model.py).
    - `inverse_view(view(x)) == x` exactly for views that only move pixels or
      flip signs; only approximately for views that resample (skew, inner
      rotations by angles that are not multiples of 90 degrees).
    """

    def view(self, im, **kwargs):
        """Apply the view to `im` ([C, H, W])."""
        raise NotImplementedError

    def inverse_view(self, im, **kwargs):
        """Undo `view`: map a viewed image back to the canonical frame."""
        raise NotImplementedError
