"""One adapter per destination service (slack, webhook, discord, console): each renders an
alert as its service expects and tells retriable failures from permanent ones; `base` is
what the notifier needs of one, `_http` the POST they share, `*_render` digests and feed
health alerts per type."""
