"""IAM policy evaluation shared by product code and the local stack (pure, no I/O).

conditions.py   ``Condition`` operators, set qualifiers, the request context
policy.py       permission statements and documents; identity ∩ session decision;
                AWS's access-denied wording
qbusiness.py    the IAM action and resource ARNs of each Q Business operation
                (from botocore's model and AWS's service authorization reference)

``local/`` imports this package; nothing here imports ``local/``.
"""
