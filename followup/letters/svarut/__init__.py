"""Letters through KS SvarUt (../shared/spec/digital-post.md): the channel rule, the REST v3
client, sending and status polling, and a fake SvarUt for the demo and the tests."""
