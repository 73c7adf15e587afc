# Tokenizer and vocabulary unit tests (src/tokenize.c, src/vocab.c).
tcd_c_test(test_tokenize)
tcd_c_test(test_vocab)
