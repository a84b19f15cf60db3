"""Call gateways: how a dial request reaches a telephone network (or a simulation of one)."""
