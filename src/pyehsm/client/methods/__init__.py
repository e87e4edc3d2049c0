"""The SDK's methods by area, each a mixin of :class:`pyehsm.client.api.Operations`."""
