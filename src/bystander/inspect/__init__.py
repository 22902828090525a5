"""Inspector: evidence bundles in, findings tied to articles out (see ``bystander.rules``)."""
