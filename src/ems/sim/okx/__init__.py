"""The OKX v5 simulator: REST, public/private/business WebSocket and the admin API."""
