"""eHSM Action handlers by area: each takes the payload Struct, calls one service, returns the result."""
