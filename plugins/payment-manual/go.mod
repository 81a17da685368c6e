module github.com/mikrobill/mikrobill/plugins/payment-manual

go 1.26

require github.com/mikrobill/mikrobill/sdk v0.0.0

replace github.com/mikrobill/mikrobill/sdk => ../../sdk
