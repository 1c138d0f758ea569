"""Simulated Binance spot, USD-M and COIN-M venues speaking Binance's wire protocol."""
