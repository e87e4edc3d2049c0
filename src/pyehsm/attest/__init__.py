"""attest"""
