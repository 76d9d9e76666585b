"""minicnn placeholder"""
