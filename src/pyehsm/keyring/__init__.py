"""keyring"""
