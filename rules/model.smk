# model stage rules
