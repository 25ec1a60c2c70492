# cleaning stage rules
