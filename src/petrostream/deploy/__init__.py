"""The AWS runtime's helpers: the Lambda zip, the Glue schema, the cost model.

Everything here serves ``infra/terraform`` and the ``petrostream aws`` verbs;
nothing here runs inside the Lambda function.
"""
