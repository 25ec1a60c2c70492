# tables stage rules
