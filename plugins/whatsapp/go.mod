module github.com/mikrobill/mikrobill/plugins/whatsapp

go 1.26.0
