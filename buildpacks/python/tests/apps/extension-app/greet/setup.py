from setuptools import Extension, setup

setup(ext_modules=[Extension("greet", ["greet.c"])])
