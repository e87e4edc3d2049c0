"""The AWS KMS door: the AWS KMS JSON protocol (``POST /``, ``X-Amz-Target: TrentService.<Operation>``) with
SigV4 authentication, over the same apps, keys and services as the eHSM door (docs/aws-kms.md)."""
