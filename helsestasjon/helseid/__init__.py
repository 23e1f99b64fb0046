"""HelseID: staff log in through Norsk helsenett's OpenID Connect authority, and services get tokens from it.

HelseID authenticates; it never decides access. Users, roles and stations stay local
(../shared/spec/helseid.md). All JOSE work (signing client assertions and DPoP proofs,
verifying ID tokens) is done by joserfc; this package only decides what to sign and what to accept.
"""
