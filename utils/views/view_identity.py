"""The identity view: the canonical image, shown as it is."""

from .view_base import BaseView


class IdentityView(BaseView):
    """Leaves the image unchanged (returns the input tensor itself)."""

    def view(self, im, **kwargs):
        return im

    def inverse_view(self, im, **kwargs):
        return im
