"""The matcher and notifier stages and what they use: the pure matching core (`matching`) and
story grouping (`stories`), the retry decision, the hold step and digests, and one adapter
per destination service (`destinations`). Only `service.app` imports this package."""
