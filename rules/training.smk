# training stage rules
