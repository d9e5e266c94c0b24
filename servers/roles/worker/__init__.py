"""The worker role (`paygate serve --role worker`): scheduled batch jobs."""
