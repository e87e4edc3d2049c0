"""The AWS door's handlers, one module per area; operations.py is the table that names them."""
